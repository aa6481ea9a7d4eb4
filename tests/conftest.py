import os
import sys
from pathlib import Path

# Figures in tests are drawn off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent))
