"""tests/book: the browser helpers (bookbrowser.py) importable by the test modules here."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
