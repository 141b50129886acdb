"""The WhatsApp bridge (Meta WhatsApp Cloud API webhook).

Invariants:
- `GET` answers Meta's verification handshake only for the configured verify token.
- `POST` is verified (`X-Hub-Signature-256`, HMAC-SHA256 of the raw body with the app secret)
  before anything is read, acknowledged at once, and deduplicated by message id, so a redelivery
  never starts a second run.
- A number is linked to a portal user through `ChannelIdentity` (provider whatsapp, the business
  phone number id as workspace, the sender's number as user id); an unlinked number gets no run but
  a reply with a one-time, expiring link (`bridges/services.py`) to confirm in the portal.
- A run answers with one reply (plus Confirm/Reject buttons when a tool call needs confirmation),
  sent only inside WhatsApp's 24-hour customer-service window; outside it the refusal is recorded
  on the run.
"""
