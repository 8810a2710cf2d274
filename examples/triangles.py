"""The stagebuf demo app: procedurally animated triangles staged every frame.

Opens a glfw window (OpenGL 3.3 core) when a display is available, otherwise
renders headless on an EGL context and writes the last frame to a PNG.

    python examples/triangles.py --triangles 50000 --frames 300 --no-vsync
    python examples/triangles.py --headless --out frame.png
"""

from __future__ import annotations

import sys

from stagebuf.demo import main

if __name__ == "__main__":
    sys.exit(main())
