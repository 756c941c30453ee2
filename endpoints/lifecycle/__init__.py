"""Hosting lifecycle: creating models, endpoint configs and endpoints, naming them,
recording what a run created, and deleting it again (library and ``endpoints-cleanup``)."""
