// JSON calls to the console server. URLs are relative ('api/...') so the page works wherever it is mounted.

export class ApiError extends Error {}

async function request(method, path, body) {
  const options = { method, headers: {} }
  if (body instanceof FormData) options.body = body
  else if (body !== undefined) {
    options.headers['content-type'] = 'application/json'
    options.body = JSON.stringify(body)
  }
  const response = await fetch(`api/${path}`, options)
  const text = await response.text()
  let data = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = { detail: text }
  }
  if (!response.ok) throw new ApiError(`${method} ${path}: ${data?.detail ?? response.statusText}`)
  return data
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body = {}) => request('POST', path, body),
  put: (path, body) => request('PUT', path, body),
  del: (path) => request('DELETE', path),
  upload: (path, file, fields = {}) => {
    const form = new FormData()
    form.append('file', file)
    for (const [k, v] of Object.entries(fields)) form.append(k, v)
    return request('POST', path, form)
  },
}

export const q = encodeURIComponent
