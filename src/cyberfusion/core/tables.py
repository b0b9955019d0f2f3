"""Import every domain's tables, so the metadata is complete for migrations and checks."""

from __future__ import annotations


def import_all() -> None:
    import cyberfusion.account.models
    import cyberfusion.audit.models
    import cyberfusion.correlation.models
    import cyberfusion.enrichment.models
    import cyberfusion.feed.models
    import cyberfusion.intake.models
    import cyberfusion.intel.models
    import cyberfusion.knowledge.models
    import cyberfusion.notification.models
    import cyberfusion.observable.models
    import cyberfusion.partner.models
    import cyberfusion.product.models
    import cyberfusion.registry.models
    import cyberfusion.sharing.models
    import cyberfusion.taxii.models  # noqa: F401
