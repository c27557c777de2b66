"""`manage.py render_history CODE OUT.json`: the admin History tab of a product, as a signed-in
superuser sees it, through the test client: the page its change page's History button opens."""

import json
import re
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.test import Client

from inventory.models import Product


class Command(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("out")

    def handle(self, *args, code, out, **options):
        User = get_user_model()
        root = User.objects.filter(username="root").first()
        if root is None:
            root = User.objects.create_superuser("root", "root@example.com", "root-password")
        product = Product.objects.get(code=code)
        client = Client()
        client.force_login(root)
        change = client.get(f"/admin/inventory/product/{product.pk}/change/")
        (url,) = re.findall(r'<a href="([^"]*)" class="historylink"', change.content.decode())
        response = client.get(url)
        page = {
            "url": url,
            "pk": product.pk,
            "status": response.status_code,
            "html": response.content.decode(),
        }
        Path(out).write_text(json.dumps(page))
        self.stdout.write(f"{url}: {response.status_code}")
