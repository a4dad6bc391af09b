import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from flask import (Flask, Response, jsonify, make_response, redirect, request, send_file,
                   stream_with_context, url_for)

app = Flask(__name__)


@app.route('/')
def index():
    return 'Hello from Flask %s' % sys.prefix


@app.route('/json')
def as_json():
    return jsonify(path=request.path, script_root=request.script_root, args=request.args.to_dict(),
                   scheme=request.scheme)


@app.route('/form', methods=['GET', 'POST'])
def form():
    if request.method == 'POST':
        return 'hello %s, you are %s' % (request.form['name'], request.form.get('age', '?'))
    return '<form method="post"><input name="name"></form>'


@app.route('/upload', methods=['POST'])
def upload():
    f = request.files['file']
    data = f.read()
    return jsonify(name=f.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.route('/cookie/set')
def set_cookie():
    resp = make_response('cookies set')
    resp.set_cookie('flavor', 'oatmeal')
    resp.set_cookie('session_hint', 'abc', httponly=True)
    return resp


@app.route('/cookie/get')
def get_cookie():
    return 'flavor=%s' % request.cookies.get('flavor')


@app.route('/redirect')
def go():
    return redirect(url_for('as_json', x='1'))


@app.route('/stream')
def stream():
    def generate():
        for i in range(4):
            yield 'row %d\n' % i
    return Response(stream_with_context(generate()), mimetype='text/plain')


@app.route('/download')
def download():
    # send_file hands the open file to wsgi.file_wrapper.
    return send_file(os.path.join(os.path.dirname(__file__), 'payload.bin'),
                     mimetype='application/octet-stream')


@app.route('/boom')
def boom():
    raise RuntimeError('flask view failed')


application = app
