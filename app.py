"""The sagan-edit web demo as a Hugging Face Space (``sdk: gradio``, ``app_file: app.py``).

Locally, from a checkout: ``python app.py`` serves it on http://127.0.0.1:7860 (the same app as
``sagan-edit demo``). On a Space, Gradio reads the host and port from the environment
(``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``). It needs ``sagan-edit[demo]``; run from a
checkout without installing it, it imports the package from ``src/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

try:
    import sagan_edit  # noqa: F401
except ImportError:  # a checkout (or a Space holding this repository) without an install
    sys.path.insert(0, str(HERE / "src"))

from sagan_edit.demo import build_demo, prepare_environment  # noqa: E402

prepare_environment()
EXAMPLES = [path for path in [HERE / "examples" / "astronaut.png"] if path.is_file()]
demo = build_demo(examples=EXAMPLES)

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=1).launch()
