"""The WSGI application gunicorn serves (``onecard.serving.wsgi:app``).

``create_app`` refuses a production configuration that still holds a development secret, so a worker
never starts with one; ``onecard serve`` checks the same before it starts gunicorn at all.
"""
from onecard import create_app

app = create_app()
