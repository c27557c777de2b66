"""`python example_project/manage.py demo_login [username]`: a superuser for the demo.

Creates the superuser (default `admin`) or updates it, gives it a freshly generated random
password, and prints that password alone on standard output, for scripts such as
`./run demo`. Run it again to get a new password; the old one stops working.
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

import pghistory


class Command(BaseCommand):
    help = "Create or update a demo superuser with a new random password, and print the password."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default="admin")

    def handle(self, *args, username, **options):
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        with pghistory.context(source="demo login", username=username):
            user = user_model.objects.filter(username=username).first()
            created = user is None
            if created:
                user = user_model(username=username, email=f"{username}@localhost")
            user.first_name = user.first_name or "Demo"
            user.last_name = user.last_name or "Admin"
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
        action = "created" if created else "updated"
        self.stderr.write(f"Superuser {username!r} {action} with a new password.")
        self.stdout.write(password)
