# DeepClean Studio on a GPU VM:
#   docker build -t deepclean-studio .                                   # CUDA 13.0: host driver >= 580, Turing+
#   docker build --build-arg CUDA=12.8 -t deepclean-studio .             # CUDA 12.8: host driver >= 570
#   docker run --gpus all -p 8501:8501 -v deepclean-home:/data deepclean-studio
# A CUDA runtime image with PyTorch; constraints.txt pins the same torch, so pip keeps the image's build.
# BASE_DIGEST pins the base image by digest (sha256:...). This repository was written where no registry
# could be pulled, so it is empty by default (the tag is used); pin it on your build host with
#   docker pull pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime && \
#   docker inspect --format '{{index .RepoDigests 0}}' pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime
# and build with --build-arg BASE_DIGEST=@sha256:<digest>.
ARG TORCH=2.14.1
ARG CUDA=13.0
ARG BASE_DIGEST=
FROM pytorch/pytorch:${TORCH}-cuda${CUDA}-cudnn9-runtime${BASE_DIGEST}

# The image's Python is the distribution's (PEP 668: pip refuses to install into it), so the project lives
# in a venv that sees the system site-packages: the image's CUDA torch is kept, never re-downloaded.
# PYTHONPATH=/app lets `dask worker` (whose console script does not put the working directory on sys.path)
# import `core`, which the pickled job function `core.jobs.execute` needs. /tls: where compose's `dask-tls`
# volume (the Dask cluster's certificates) is mounted; a fresh volume takes this folder's owner and mode.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    DEEPCLEAN_HOME=/data \
    DEEPCLEAN_DATA=/data/datasets

WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN python3 -m venv --system-site-packages /opt/venv \
    && /opt/venv/bin/python -m pip install --disable-pip-version-check -r requirements.txt -c constraints.txt \
    && useradd --create-home --uid 10001 deepclean \
    && mkdir -p /data/datasets \
    && chown -R deepclean:deepclean /data \
    && install -d -m 700 -o deepclean -g deepclean /tls

COPY app.py ./
COPY core ./core
COPY pages ./pages
COPY checkpoints ./checkpoints
# Streamlit reads .streamlit/config.toml from the working directory (there is no config-directory setting).
COPY deploy/streamlit-production.toml ./.streamlit/config.toml

USER deepclean
VOLUME ["/data"]
EXPOSE 8501
# /healthz (pages/access.py): the server answers and DEEPCLEAN_HOME is usable. compose gives the scheduler
# and workers checks of their own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/healthz', timeout=4).status == 200 else 1)"
CMD ["python", "-m", "streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
