"""TAXII 2.1: the sharing model served to standard clients (discovery, API roots, collections,
objects, manifests, versions, status), every read through the sharing choke point."""
