# samvid ML backend. CPU by default; for NVIDIA GPUs build with
#   docker build --build-arg TORCH_VARIANT=cu126 -t samvid:cuda .
# (the CUDA runtime comes inside the torch wheel; the host needs the NVIDIA driver and
# container toolkit). Weights are never baked in: they download into the /cache volume
# on first use, or mount a folder and set SAMVID_MODEL to it.
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu
ARG TORCH_VERSION=2.13.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/cache/huggingface \
    SAMVID_FALLBACK=classic

# torch first, from the index of the chosen variant: the biggest layer, cached apart
# from the project's code.
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
        "torch==${TORCH_VERSION}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend/ backend/
COPY tracker/ tracker/
COPY labeling_configs/ labeling_configs/
RUN pip install .

# A fixed uid, so the cache volume's owner is predictable on the host.
RUN useradd --create-home --uid 10001 --user-group samvid \
    && mkdir -p /cache/huggingface \
    && chown -R samvid:samvid /cache
VOLUME ["/cache"]
USER 10001:10001

EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/health', timeout=4)"]

ENTRYPOINT ["samvid"]
CMD ["serve", "--host", "0.0.0.0", "--port", "9090"]
