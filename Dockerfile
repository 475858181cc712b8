# DeepClean Studio on a GPU VM:
#   docker build -t deepclean-studio .
#   docker run --gpus all -p 8501:8501 -v deepclean-home:/data deepclean-studio
# A CUDA runtime image with PyTorch; requirements.txt pins the same torch, so pip keeps the image's build.
FROM pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime

# Recent images' Python is the distribution's, which refuses `pip install` (PEP 668): our packages go into a
# virtual environment that also sees the image's site-packages, so the image's CUDA torch satisfies the pin
# and is never downloaded again. PYTHONPATH lets every process find `core`, Dask's `dask worker` included
# (its console script does not put the working directory on sys.path). Streamlit reads its settings from
# .streamlit/config.toml in the working directory, /app.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    DEEPCLEAN_HOME=/data \
    DEEPCLEAN_DATA=/data/datasets

WORKDIR /app
COPY requirements.txt ./
RUN python3 -m venv --system-site-packages /opt/venv \
    && /opt/venv/bin/python -m pip install --disable-pip-version-check -r requirements.txt \
    && useradd --create-home --uid 10001 deepclean \
    && mkdir -p /data/datasets \
    && chown -R deepclean:deepclean /data

COPY app.py ./
COPY core ./core
COPY pages ./pages
COPY checkpoints ./checkpoints
COPY deploy/streamlit-production.toml ./.streamlit/config.toml

USER deepclean
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/healthz', timeout=4).status == 200 else 1)"
CMD ["python", "-m", "streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
