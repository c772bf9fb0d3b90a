"""create_api_token USERNAME NAME: issue an API token and print its key once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.models import ApiToken


class Command(BaseCommand):
    help = "Issue a bearer token for the JSON API. The key is printed once; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the token acts as (needs AR/Cash level 1 to read).")
        parser.add_argument("name", help="What the token is for, e.g. 'OpenWater sync'.")

    def handle(self, *args, username, name, **options):
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist as exc:
            raise CommandError(f"No user named {username!r}.") from exc
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; its tokens would be refused.")
        name = name.strip()
        if not name:
            raise CommandError("Give the token a name.")
        token, key = ApiToken.issue(user=user, name=name)
        self.stderr.write(f"Token {token.name!r} ({token.prefix}…) issued for {username}. Store the key now:")
        self.stdout.write(key)
