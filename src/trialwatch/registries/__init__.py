"""The registries TrialWatch reads, each behind the same seam (see ``base``)."""
