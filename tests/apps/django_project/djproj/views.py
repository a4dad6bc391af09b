import os

import django
from django.http import FileResponse, HttpResponse
from django.shortcuts import render


def home(request):
    return render(request, 'home.html', {'version': django.get_version(), 'script_name': request.META['SCRIPT_NAME'],
                                         'path': request.path})


def greet(request, name):
    return HttpResponse('greetings, %s' % name, content_type='text/plain')


def form(request):
    if request.method == 'POST':
        return HttpResponse('posted %s' % request.POST.get('item', ''), content_type='text/plain')
    return render(request, 'form.html')


def download(request):
    # Django passes FileResponse files to wsgi.file_wrapper.
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), 'payload.bin')
    return FileResponse(open(path, 'rb'), content_type='application/octet-stream')
