"""`manage.py render_history CODE OUT.json`: the admin History tab of a product, as a signed-in
superuser sees it, through the test client (redirects followed)."""

import json
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
        url = f"/admin/inventory/product/{product.pk}/history/"
        response = client.get(url, follow=True)
        page = {
            "url": url,
            "pk": product.pk,
            "status": response.status_code,
            "redirects": [target for target, _ in response.redirect_chain],
            "html": response.content.decode(),
        }
        Path(out).write_text(json.dumps(page))
        self.stdout.write(f"{url}: {response.status_code}")
