from django.core.management.base import BaseCommand, CommandError

from tenants.models import User
from tenants.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username of the token's owner")
        parser.add_argument("--name", default="cli", help="a label to recognise the token by")

    def handle(self, *args, user: str, name: str, **options):
        owner = User.objects.filter(username=user, is_active=True).first()
        if owner is None:
            raise CommandError(f"No active user named {user!r}.")
        token, raw = api_token_create(user=owner, name=name)
        self.stderr.write(f"Token {token.name!r} for {owner.username}; it is shown only this once:")
        self.stdout.write(raw)
