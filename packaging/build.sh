#!/usr/bin/env bash
# Build the double-click executable: dist/medview/medview (one-folder PyInstaller bundle).
#
#   bash packaging/build.sh                 # CUDA torch from PyPI (runs without a GPU too)
#   MEDVIEW_TORCH=cpu bash packaging/build.sh    # CPU-only torch: a much smaller bundle
#   MEDVIEW_REUSE_VENV=1 bash packaging/build.sh # keep build/venv from a previous build
#   MEDVIEW_SKIP_SELFTEST=1 bash packaging/build.sh
#
# Always from a clean virtual environment (build/venv): whatever happens to be installed in a
# developer's environment must not leak into the bundle, and the bundle must not depend on it.
# See packaging/README.md for Windows, macOS and the Linux .desktop entry.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3.11}
VENV=${MEDVIEW_BUILD_VENV:-build/venv}
TORCH=${MEDVIEW_TORCH:-default}
CPU_INDEX=${MEDVIEW_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

step() { printf '\n== %s (%ds)\n' "$1" "$SECONDS"; }
SECONDS=0

if [[ -z "${MEDVIEW_REUSE_VENV:-}" || ! -x "$VENV/bin/python" ]]; then
    step "fresh virtual environment $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    if [[ "$TORCH" == cpu ]]; then
        # CPU-only wheels first, so that 'pip install .' finds torch already satisfied and
        # does not pull the CUDA build (and its ~3 GB of nvidia-* libraries) from PyPI.
        "$VENV/bin/python" -m pip install torch torchvision --index-url "$CPU_INDEX"
    fi
    step "pip install . pyinstaller"
    # Not editable: the bundle is built from what an installation contains.
    "$VENV/bin/python" -m pip install ".[packaging]"
fi
"$VENV/bin/python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

if [[ "$(uname -s)" == Linux ]]; then
    step "Qt's X11 libraries (bundled from this machine)"
    # PyInstaller copies the system libraries Qt's xcb platform plugin needs into the bundle, but
    # only those installed here. Missing ones make the bundle fail on X11 desktops that lack them
    # ("could not load the Qt platform plugin xcb"), so say so loudly now.
    XCB_PLUGIN=$("$VENV/bin/python" -c "import PySide6, pathlib; print(pathlib.Path(PySide6.__file__).parent / 'Qt/plugins/platforms/libqxcb.so')")
    MISSING=$(ldd "$XCB_PLUGIN" 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ' || true)
    if [[ -n "$MISSING" ]]; then
        echo "WARNING: not installed here, so not bundled: $MISSING"
        echo "  Debian/Ubuntu: apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" \
            "libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0"
    else
        echo "all found"
    fi
fi

step "app icon (PNG rendered from resources/icons/medview.svg, for Windows/macOS)"
mkdir -p build/icon
QT_QPA_PLATFORM=offscreen "$VENV/bin/python" - <<'EOF' || echo "icon: not rendered (optional)"
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

app = QGuiApplication([])
image = QImage(256, 256, QImage.Format.Format_ARGB32)
image.fill(Qt.GlobalColor.transparent)
painter = QPainter(image)
QSvgRenderer("resources/icons/medview.svg").render(painter)
painter.end()
image.save("build/icon/medview.png")
# Windows: the Inno Setup installer wants an .ico (PyInstaller converts the PNG itself).
from PIL import Image

Image.open("build/icon/medview.png").save(
    "build/icon/medview.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (256, 256)]
)
print("build/icon/medview.png, build/icon/medview.ico")
EOF

step "PyInstaller"
rm -rf dist/medview build/pyinstaller
"$VENV/bin/python" -m PyInstaller --noconfirm --clean \
    --distpath dist --workpath build/pyinstaller packaging/medview.spec
BUILD_SECONDS=$SECONDS

step "bundle"
du -sh dist/medview
ls dist/medview
echo "build time: ${BUILD_SECONDS}s"

if [[ -z "${MEDVIEW_SKIP_SELFTEST:-}" ]]; then
    step "self-test of the bundle"
    # No display here (CI, ssh): the self-test itself switches Qt to offscreen then.
    dist/medview/medview self-test
fi
step "done: $ROOT/dist/medview/medview"
