# krmfn as a container image, for kustomize `container:` functions and kpt `image:` pipelines.
#
# The build context must hold image-context/wheels/ (the project wheel and the locked
# dependency wheels): scripts/build-image.sh prepares it, because a build may have no route
# to PyPI while apt still works.
#
# BASE_IMAGE defaults to a debootstrapped bookworm made by scripts/build-image.sh; a release
# pipeline passes --build-arg BASE_IMAGE=debian:bookworm-slim.
ARG BASE_IMAGE=localhost/debian:bookworm-slim

FROM ${BASE_IMAGE} AS runtime
# The metapackages are pinned; what they depend on (python3.11, libssl3, ...) comes at
# bookworm's current security level, so a rebuild picks up fixes without a Dockerfile edit.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3=3.11.2-1+b1 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log

# Built on the runtime stage so the venv's interpreter is the very one the image ships.
FROM runtime AS builder
# Lets scripts/build-image.sh find and drop the builder images earlier builds left behind.
LABEL io.llm-d.krmfn.stage=builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv=3.11.2-1+b1 \
 && rm -rf /var/lib/apt/lists/*
COPY image-context/wheels/ /wheels/
# --require-hashes checks every dependency wheel against scripts/requirements-image.txt;
# pip and setuptools leave the venv because nothing installs into it at run time.
RUN python3 -m venv /opt/krmfn \
 && /opt/krmfn/bin/pip install --no-cache-dir --no-index --find-links /wheels \
      --require-hashes --no-deps -r /wheels/requirements-image.txt \
 && /opt/krmfn/bin/pip install --no-cache-dir --no-index --no-deps /wheels/krmfn-*.whl \
 && /opt/krmfn/bin/pip uninstall -y pip setuptools \
 && /opt/krmfn/bin/python -c "import yaml; assert yaml.__with_libyaml__, 'PyYAML without libyaml'"

FROM runtime
COPY --from=builder /opt/krmfn /opt/krmfn
# C.UTF-8: krmfn writes text to stdout, and an unset locale must not change the bytes.
# No .pyc at run time: the root filesystem is read-only and the venv was compiled at install.
ENV PATH=/opt/krmfn/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1
# kustomize and kpt run functions as nobody; the image says so too for plain `docker run`.
USER 65534:65534
ENTRYPOINT ["krmfn"]
