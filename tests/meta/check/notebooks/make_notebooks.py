"""Writes the fixture notebooks of ``tests/meta/check/test_notebook.py`` (run from anywhere).

The notebooks are built with nbformat's own API, with fixed cell ids so that the files are
reproducible; ``test_notebook.py`` checks that the committed files equal what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

COLAB = [  # (cell type, source, tags): a learner's Colab notebook, run top to bottom
    ("markdown", "# Pure state update\nRun every cell, then submit.", None),
    ("code", "%pip install -q flax\n!nvidia-smi", None),
    ("code", "from google.colab import drive; drive.mount('/content/drive')", None),
    ("code", ("import jax\nimport jax.numpy as jnp\nimport matplotlib.pyplot as plt\n"
             "from flax import nnx\n%matplotlib inline\n"
             "jax.config.update(\"jax_enable_x64\", False)"), None),
    ("code", ("SCALE_DTYPE = jnp.float32\n\n\n"
             "def make_model(seed, in_features, features):\n"
             "    \"\"\"The Linear layer of the exercise.\"\"\"\n"
             "    return nnx.Linear(in_features, features, rngs=nnx.Rngs(int(seed)))\n\n\n"
             "def scale_leaf(leaf, scale):\n"
             "    return leaf * jnp.asarray(scale, SCALE_DTYPE)\n"), None),
    ("code", ("def pure_state_update(seed, x, features, scale):\n"
             "    model = make_model(seed, x.shape[-1], features)\n"
             "    return model(x)  # first draft: the state is not scaled yet\n"), None),
    ("markdown", "## Training", None),
    ("code", ("def train(model, steps):\n"
             "    losses = []\n"
             "    for step in range(steps):\n"
             "        losses.append(float(step))\n"
             "    return losses\n\n"
             "losses = train(make_model(0, 3, 2), steps=10**6)\n"
             "for step in range(10**9):\n"
             "    losses.append(step)\n"
             "while True:\n"
             "    pass\n"
             "plt.plot(losses)\n"), None),
    ("code", "%%time\nresult = pure_state_update(0, jnp.ones(3), 2, 0.5)", None),
    ("code", ("exec(\"print('side effect')\")\n"
             "__import__(\"os\").system(\"echo hi\")\n"
             "math = __import__(\"math\")\n"), None),
    ("code", ("# The final version: split, scale every leaf, merge.\n"
             "def pure_state_update(seed, x, features, scale):\n"
             "    if not math.isfinite(float(scale)):\n"
             "        raise ValueError(\"scale should be finite\")\n"
             "    model = make_model(seed, x.shape[-1], int(features))\n"
             "    graphdef, state = nnx.split(model)\n"
             "    new_state = jax.tree_util.tree_map(lambda leaf: scale_leaf(leaf, scale), state)\n"
             "    return nnx.merge(graphdef, new_state)(x)\n\n"
             "pure_state_update(0, jnp.ones(3), 2, 0.5)\n"), None),
]

GRADED = [  # only the cells tagged "grade" or starting with a "#grade" line are graded
    ("code", "import numpy as np\nHIDDEN = 99", None),
    ("code", "import jax\nfrom flax import nnx\nOFFSET = 0.0", ["exercise", "grade"]),
    ("code", ("#GRADE\ndef pure_state_update(seed, x, features, scale):\n"
             "    return x * scale + OFFSET\n"), None),
    ("code", ("def pure_state_update(seed, x, features, scale):\n"
             "    return np.zeros(3)  # scratch work, not graded\n"), None),
]

SYNTAX_ERROR = [  # the graded function has a syntax error on line 5 of cell 2
    ("code", "!pip install flax\nimport jax", None),
    ("code", ("%load_ext autoreload\nimport numpy as np\n\n"
             "def pure_state_update(seed, x, features, scale):\n"
             "    y = np.asarray(x\n"
             "    return y * scale\n"), None),
]

ONLY_MARKDOWN = [
    ("markdown", "# Notes\nNo code here.", None),
    ("raw", "def pure_state_update(seed, x, features, scale): ...", None),
]

NOTEBOOKS = {"colab.ipynb": COLAB, "graded.ipynb": GRADED,
             "syntax_error.ipynb": SYNTAX_ERROR, "only_markdown.ipynb": ONLY_MARKDOWN}


def build(cells: list) -> object:
    """A v4 notebook of ``cells``, with ids ``cell-1``, ``cell-2``, ..."""
    from nbformat import v4

    made = []
    for number, (kind, source, tags) in enumerate(cells, start=1):
        new = {"code": v4.new_code_cell, "markdown": v4.new_markdown_cell,
               "raw": v4.new_raw_cell}[kind]
        cell = new(source, id=f"cell-{number}")
        if tags is not None:
            cell.metadata["tags"] = tags
        made.append(cell)
    return v4.new_notebook(cells=made, metadata={"colab": {"provenance": []}})


def build_v3() -> object:
    """An nbformat 3 notebook (worksheets, ``input``), which nbformat converts to 4."""
    from nbformat import v3

    cells = [v3.new_code_cell(input="import math\n!ls\nK = math.pi"),
             v3.new_code_cell(input="def pure_state_update(seed, x, features, scale):\n"
                                    "    return x * scale * K\n")]
    return v3.new_notebook(worksheets=[v3.new_worksheet(cells=cells)])


def texts() -> dict[str, str]:
    """The file name and text of every fixture notebook."""
    import nbformat

    out = {name: nbformat.writes(build(cells)) for name, cells in NOTEBOOKS.items()}
    out["v3.ipynb"] = nbformat.writes(build_v3(), version=3)
    return out


def main() -> int:
    for name, text in texts().items():
        (HERE / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
