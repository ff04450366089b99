# syntax=docker/dockerfile:1
# finsent's one image: the pipeline and its shipped model, Airflow 3 (Celery, PostgreSQL
# and SMTP providers) with finsent's DAGs, and the dashboard. docker-compose.yml runs
# every service from it.
#
#   docker build -t finsent .                                    # CPU torch (the default)
#   docker build -t finsent:cuda \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .   # CUDA torch
ARG PYTHON_VERSION=3.11

# --- build: a virtualenv with everything installed ---------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the index of the wanted build: the project pins only its version,
# and PyPI's default wheel for Linux would be the multi-GB CUDA one.
RUN pip install --index-url "$TORCH_INDEX_URL" "torch==2.13.0"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY models ./models
COPY pipeline ./pipeline
RUN pip install ".[airflow,dashboard]" && pip check

# --- runtime: the virtualenv, the DAGs and the dashboard, as an unprivileged user ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
RUN groupadd --gid 50000 finsent \
    && useradd --uid 50000 --gid 50000 --home-dir /opt/finsent --create-home finsent
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/finsent/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=false \
    FINSENT_OUTBOX_DIR=/opt/finsent/outbox
WORKDIR /opt/finsent
COPY dags ./dags
COPY dashboard ./dashboard
# Named volumes mounted here start with these owners, so the services can write them.
RUN mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/finsent/outbox \
    && chown -R finsent:finsent /opt/airflow /opt/finsent
USER finsent
EXPOSE 8080 8501
CMD ["airflow", "version"]
