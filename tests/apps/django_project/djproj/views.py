import django
from django.http import HttpResponse
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
