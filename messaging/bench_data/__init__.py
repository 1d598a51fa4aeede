"""The benchmark dataset behind `manage.py seed_load`: its generator (`dataset`) and the
bulk writer (`loader`)."""
