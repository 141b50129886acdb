"""One HTTP request through an ASGI application, the way a server would see it end.

Channels' `HttpCommunicator.get_response` returns once the body is sent, before Django closes the
response. Django gives the request's database connection back in that close (`request_finished`),
so a test that stops at the body leaves the connection checked out of the pool for good. Waiting
for the application to finish keeps the production suite's pool as a server would keep it.
"""

from channels.testing import HttpCommunicator


async def asgi_request(
    application, method: str, path: str, *, body: bytes = b"", headers=None, timeout: float = 1
) -> dict:
    """The response ({status, headers, body}) after the application has finished the request."""
    communicator = HttpCommunicator(application, method, path, body=body, headers=headers or [])
    response = await communicator.get_response(timeout=timeout)
    await communicator.wait(timeout=max(timeout, 5))
    return response
