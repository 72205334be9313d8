"""The Celery worker: its app and tasks."""
