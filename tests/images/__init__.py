"""Container images built here without a container engine (buildah, chroot isolation)."""
