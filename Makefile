# The two commands of the README.  Both set up the ComfyUI host(s) first if needed (cached outside the clone).
# `make test` runs lint and the suite on both supported ComfyUI versions (0.33.0, what users run, and 0.3.75,
# the oldest supported) and fails if either fails.  With COMFYUI_PATH set it runs once, on that ComfyUI.
HOST_SCRIPT := python3 scripts/host.py
NEW_HOST := $(HOST_SCRIPT) run --host 0.33.0 --
OLD_HOST := $(HOST_SCRIPT) run --host 0.3.75 --
# On 0.3.75 everything runs but the two longest server tests (a 120-frame workflow and a 20-prompt memory run) and the
# training acceptance test (its ComfyUI calls are those of test_training.py, which runs on both), which
# exercise no ComfyUI API that the rest of the suite does not; PYTEST_ARGS replaces this selection.
OLD_HOST_SELECTION := -k "not long_upscale and not twenty_prompts and not test_training_learns"

.PHONY: demo test test-new test-old test-one test-fast lint setup ui-workflows
demo:
	$(NEW_HOST) python scripts/demo.py $(ARGS)

ifdef COMFYUI_PATH
test: lint test-one
else
test: lint test-new test-old
endif

test-new:
	$(NEW_HOST) python -m pytest $(PYTEST_ARGS)

test-old:
	$(OLD_HOST) python -m pytest $(if $(PYTEST_ARGS),$(PYTEST_ARGS),$(OLD_HOST_SELECTION))

# The in-process tests only (no real server or browser, see the `server`/`browser` markers): the quick loop.
test-fast:
	$(NEW_HOST) python -m pytest -m "not server and not slow" $(PYTEST_ARGS)

# The suite on one host (MAGICANIMATE_HOST=0.3.75 picks the old one; COMFYUI_PATH your own ComfyUI).
test-one:
	$(HOST_SCRIPT) run -- python -m pytest $(PYTEST_ARGS)

setup:
	$(HOST_SCRIPT) setup --host 0.33.0
	$(HOST_SCRIPT) setup --host 0.3.75

lint:
	$(NEW_HOST) python -m ruff check .

# Regenerate example_workflows/<name>.json (UI format) and its .jpg thumbnail from workflows/api/<name>_api.json in the
# real frontend.
ui-workflows:
	$(NEW_HOST) python scripts/make_ui_workflows.py
