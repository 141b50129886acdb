from celery import shared_task

from bridges.whatsapp.config import whatsapp_config
from bridges.whatsapp.services import whatsapp_inbound_handle_safely


@shared_task(name="bridges.whatsapp_inbound_handle", acks_late=True)
def whatsapp_inbound_handle_task(
    inbound_id: int, text: str = "", button_id: str = "", trace: dict[str, str] | None = None
) -> None:
    config = whatsapp_config()
    if config is not None:
        whatsapp_inbound_handle_safely(
            config=config, inbound_id=inbound_id, text=text, button_id=button_id, trace=trace
        )
