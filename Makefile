# The two commands of the README.  Both set up the ComfyUI host first if needed (cached outside the clone).
HOST := python3 scripts/host.py run --

.PHONY: demo test lint setup ui-workflows
demo:
	$(HOST) python scripts/demo.py $(ARGS)

test:
	$(HOST) python -m ruff check .
	$(HOST) python -m pytest $(PYTEST_ARGS)

setup:
	python3 scripts/host.py setup

lint:
	$(HOST) python -m ruff check .

# Regenerate workflows/<name>.json (UI format) and .png from workflows/<name>_api.json in the real frontend.
ui-workflows:
	$(HOST) python scripts/make_ui_workflows.py
