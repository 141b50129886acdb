"""Every write a request makes is captured as made by its signed-in person (audit/actor.py).

The person is read when a write happens, not when the request comes in: an API token is only
checked by ninja's auth inside the view, which then sets `request.user`. Sync and async capable,
so it costs Daphne's async chain no thread switch.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from audit.actor import audit_actor


class AuditActorMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        with audit_actor(request=request):
            return self.get_response(request)

    async def __acall__(self, request):
        with audit_actor(request=request):
            return await self.get_response(request)
