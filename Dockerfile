# normlab for a class: CPU-only torch, non-root, one small server.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # One thread per training: the server runs many students' runs side by side.
    OMP_NUM_THREADS=1 \
    MKL_NUM_THREADS=1

RUN useradd --create-home --uid 1000 normlab
WORKDIR /app

# Dependencies first so code edits do not reinstall torch; the CPU index keeps the image small.
COPY pyproject.toml README.md ./
COPY normlab ./normlab
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu .

COPY app.py ./
COPY appkit ./appkit
COPY pages ./pages
COPY .streamlit ./.streamlit
RUN mkdir -p /app/cache && chown normlab /app/cache

USER normlab
ENV NORMLAB_CACHE_DIR=/app/cache
# Train the app's first runs into its cache at build time, so the first student does not wait
# (the live lab's default, the Compare page's norms, "Start here"); a failure fails the build.
RUN normlab precompute --out /app/cache

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request, sys; r = urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4); sys.exit(r.read() != b'ok')"
CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
