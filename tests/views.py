"""Views that the middleware tests request: each one writes tracked `Book` rows."""

from django.contrib.auth import get_user_model
from django.http import HttpResponse

from tests.testapp.models import Author, Book


def _write_book(params) -> HttpResponse:
    """Create a book, then rename it: two events in one request."""
    author, _ = Author.objects.get_or_create(name=params.get("author", "Ann"))
    book = Book.objects.create(title=params.get("title", "Draft"), author=author)
    Book.objects.filter(pk=book.pk).update(title=params.get("title", "Draft") + " (final)")
    return HttpResponse(str(book.pk))


def write_book(request):
    """Write a book from the request's GET or POST parameters, whatever the method."""
    return _write_book(request.POST if request.method == "POST" else request.GET)


def write_book_as(request, username):
    """Authenticate inside the view, as Django REST framework does, then write a book."""
    request.user = get_user_model().objects.get(username=username)
    return _write_book(request.POST)


async def awrite_book(request):
    """Write a book with the async ORM."""
    author, _ = await Author.objects.aget_or_create(name="Ann")
    book = await Book.objects.acreate(title="Async", author=author)
    return HttpResponse(str(book.pk))


def read_nothing(request):
    """Touch no table."""
    return HttpResponse("ok")
