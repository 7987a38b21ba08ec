# The two commands of the README.  Both set up the ComfyUI host first if needed (cached outside the clone).
HOST := python3 scripts/host.py run --

.PHONY: demo test lint setup
demo:
	$(HOST) python scripts/demo.py $(ARGS)

test:
	$(HOST) python -m ruff check .
	$(HOST) python -m pytest $(PYTEST_ARGS)

setup:
	python3 scripts/host.py setup

lint:
	$(HOST) python -m ruff check .
