# The Airflow image of docker-compose.yml: Airflow's official image plus this project,
# installed with the exact pins of constraints.txt (the same set as `make setup`'s .venv).
#
# The slim variant of apache/airflow:3.3.2 carries Airflow core without the ~60 providers
# of the full image, whose own pins could disagree with constraints.txt; the providers this
# project uses (celery, smtp, standard, common-*) come from constraints.txt. Python 3.11 is
# the interpreter constraints.txt is resolved and tested with.
ARG AIRFLOW_IMAGE=apache/airflow:slim-3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

USER root
RUN mkdir -p /opt/airflow/project && chown airflow:0 /opt/airflow/project
USER airflow
WORKDIR /opt/airflow/project
# The library for every user the stack runs as: the Airflow user, an arbitrary AIRFLOW_UID
# and root (airflow-init), for whom the user site's editable-install hook is not read.
ENV PYTHONPATH=/opt/airflow/project/include

# Dependencies first (a layer that changes only with the pins): the project's metadata
# and a stub package, installed editable with constraints.txt.
COPY --chown=airflow:0 pyproject.toml constraints.txt README.md ./
RUN pinned="$(sed -n 's/^apache-airflow==//p' constraints.txt)" \
    && if [ "$pinned" != "$AIRFLOW_VERSION" ]; then \
         echo "the base image has Airflow $AIRFLOW_VERSION, constraints.txt pins $pinned" >&2; \
         exit 1; \
       fi \
    && mkdir -p include/governance && touch include/governance/__init__.py \
    && pip install --no-cache-dir -c constraints.txt -e ".[airflow]"

# The library, its data (policy, source configs), the DAGs, plugins and deploy scripts.
COPY --chown=airflow:0 include ./include
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 plugins ./plugins
COPY --chown=airflow:0 deploy ./deploy
RUN pip install --no-cache-dir --no-deps -e . \
    && pip check \
    && python -c "import governance.cli, airflow.providers.celery" \
    && governance --help >/dev/null

WORKDIR /opt/airflow
