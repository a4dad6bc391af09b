import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = 'mod-wsgi-rs-test-only'
DEBUG = False
ALLOWED_HOSTS = ['localhost', '127.0.0.1']
ROOT_URLCONF = 'djproj.urls'
INSTALLED_APPS = []
MIDDLEWARE = [
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
]
TEMPLATES = [{
    'BACKEND': 'django.template.backends.django.DjangoTemplates',
    'DIRS': [os.path.join(BASE_DIR, 'templates')],
    'APP_DIRS': False,
    'OPTIONS': {'context_processors': ['django.template.context_processors.csrf']},
}]
DATABASES = {}
USE_TZ = True
APPEND_SLASH = False
