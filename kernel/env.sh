# Sourced by the kernel scripts: where the Jupyter environment and the kernel's builds live.
XCLUSTER_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/xcluster"
XCLUSTER_VENV="${XCLUSTER_VENV:-$XCLUSTER_CACHE/jupyter-venv}"
