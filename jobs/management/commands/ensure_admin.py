from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the superuser named by ADMIN_USERNAME with ADMIN_PASSWORD, unless it already exists."

    def handle(self, *args, **options):
        users = get_user_model().objects
        if users.filter(username=settings.ADMIN_USERNAME).exists():
            # An operator may have changed the password since; never reset it behind their back.
            self.stdout.write(f"Admin user {settings.ADMIN_USERNAME!r} already exists; left unchanged.")
            return
        users.create_superuser(
            username=settings.ADMIN_USERNAME, email=settings.ADMIN_EMAIL, password=settings.ADMIN_PASSWORD
        )
        self.stdout.write(self.style.SUCCESS(f"Created admin user {settings.ADMIN_USERNAME!r}."))
