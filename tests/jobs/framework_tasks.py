"""Tasks of Django's tasks framework (the django-tasks backport on Django 5.2)."""

from django_tasks import task

from tests.testapp.models import RowModel


@task()
def write(value):
    RowModel.objects.create(int_field=value)


@task()
def write_and_enqueue(value):
    RowModel.objects.create(int_field=value)
    write.enqueue(value + 1)


@task()
def write_and_fail(value):
    RowModel.objects.create(int_field=value)
    raise ValueError("the task fails after its write")
