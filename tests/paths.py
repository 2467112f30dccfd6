"""Where the tests' files are: the repository, the learner files the check is tried on, the
mutant library, and the matrix's recorded env reports."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
META = ROOT / "tests" / "meta"
#: Conforming solutions written in other styles (each must pass).
CONFORMING = META / "check" / "conforming"
#: The statement's own recipe, as a learner would submit it.
GOOD = CONFORMING / "statement_recipe.py"
#: Wrong, unusual and hostile learner files (each must fail, naming the right kind).
LEARNER_FILES = META / "check" / "learner_files"
#: The known learner mistakes the diagnosis names.
MUTANTS = ROOT / "conformance" / "check" / "mutants"
#: Env reports recorded by the version matrix, copied unchanged.
MATRIX_REPORTS = META / "matrix" / "fixtures"
