/*
 * C shim for the APR/httpd macros bindgen cannot turn into functions
 * (bucket ring manipulation, the request-log-level test). Nothing else
 * belongs here: all logic lives in Rust.
 */
#include "shim.h"

#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <mod_ssl.h>

/* Largest single file bucket: APR file buckets are limited by apr_size_t and
 * some filters misbehave above 1 GiB, so mod_wsgi splits there too. */
#define WSGI_SHIM_MAX_FILE_BUCKET ((apr_off_t)1 << 30)

static apr_status_t pass_and_clean(request_rec *r, apr_bucket_brigade *bb,
                                   int flags)
{
    apr_status_t rv;
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;

    if (flags & WSGI_SHIM_FLUSH) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(ba));
    }
    if (flags & WSGI_SHIM_EOS) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    }
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    if (rv == APR_SUCCESS && r->connection->aborted) {
        rv = APR_ECONNABORTED;
    }
    return rv;
}

apr_status_t wsgi_shim_send(request_rec *r, apr_bucket_brigade *bb,
                            const char *data, apr_size_t len, int flags)
{
    if (len > 0) {
        APR_BRIGADE_INSERT_TAIL(
            bb, apr_bucket_transient_create(data, len,
                                            r->connection->bucket_alloc));
    }
    return pass_and_clean(r, bb, flags);
}

apr_status_t wsgi_shim_send_file(request_rec *r, apr_bucket_brigade *bb,
                                 apr_file_t *file, apr_off_t offset,
                                 apr_off_t len, int flags)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;

    while (len > 0) {
        apr_off_t part = len > WSGI_SHIM_MAX_FILE_BUCKET
                             ? WSGI_SHIM_MAX_FILE_BUCKET : len;
        APR_BRIGADE_INSERT_TAIL(
            bb, apr_bucket_file_create(file, offset, (apr_size_t)part,
                                       r->pool, ba));
        offset += part;
        len -= part;
    }
    return pass_and_clean(r, bb, flags);
}

apr_status_t wsgi_shim_send_abort(request_rec *r, apr_bucket_brigade *bb)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;

    r->connection->keepalive = AP_CONN_CLOSE;
    /* HTTP_BAD_GATEWAY is the status the chunk filter looks for: it then
     * omits the last-chunk marker, exactly as for a failed proxy body. */
    APR_BRIGADE_INSERT_TAIL(
        bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool, ba));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    r->connection->aborted = 1;
    return APR_SUCCESS;
}

long wsgi_shim_read_body(request_rec *r, apr_bucket_brigade *bb, char *buf,
                         apr_size_t len, apr_status_t *status)
{
    apr_status_t rv;
    apr_size_t total = 0;
    apr_bucket *e;

    *status = APR_SUCCESS;
    if (len == 0) {
        return 0;
    }
    rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                        APR_BLOCK_READ, len);
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(bb);
        *status = rv;
        return -1;
    }
    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        const char *data;
        apr_size_t n;

        if (AP_BUCKET_IS_ERROR(e)) {
            /* The HTTP input filter reports e.g. 413 or 400 this way. */
            *status = ((ap_bucket_error *)e->data)->status;
            apr_brigade_cleanup(bb);
            return -2;
        }
        if (APR_BUCKET_IS_EOS(e)) {
            break;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(bb);
            *status = rv;
            return -1;
        }
        if (n > len - total) {
            n = len - total; /* cannot happen with READBYTES; stay safe */
        }
        memcpy(buf + total, data, n);
        total += n;
    }
    apr_brigade_cleanup(bb);
    return (long)total;
}

int wsgi_shim_log_enabled(const request_rec *r, const server_rec *s,
                          int level, int module_index)
{
    if (r != NULL) {
        return APLOG_R_MODULE_IS_LEVEL(r, module_index, level);
    }
    return APLOG_MODULE_IS_LEVEL(s, module_index, level);
}

int wsgi_shim_ssl_is_https(conn_rec *c)
{
    APR_OPTIONAL_FN_TYPE(ssl_is_https) *is_https =
        APR_RETRIEVE_OPTIONAL_FN(ssl_is_https);

    return is_https ? is_https(c) : 0;
}

const char *wsgi_shim_ssl_var_lookup(request_rec *r, const char *name)
{
    APR_OPTIONAL_FN_TYPE(ssl_var_lookup) *var_lookup =
        APR_RETRIEVE_OPTIONAL_FN(ssl_var_lookup);

    if (!var_lookup) {
        return NULL;
    }
    return var_lookup(r->pool, r->server, r->connection, r, (char *)name);
}
