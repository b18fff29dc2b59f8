-- Headless Neovim (0.7) against `runner lsp`: open a pipeline, see diagnostics appear,
-- edit the buffer, see them change, ask for a hover. Exits 1 on any failure.
--   RUNNER_BIN=target/debug/runner nvim --headless --clean -c "luafile tests/lsp/nvim_e2e.lua"

local function log(msg) io.stderr:write("nvim-e2e: " .. msg .. "\n") end
local function fail(msg)
  log("FAIL: " .. msg)
  vim.cmd("cquit 1")
end

local ok, err = pcall(function()
  local bin = os.getenv("RUNNER_BIN") or "target/debug/runner"
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, "p")
  local f = io.open(dir .. "/raw.csv", "w"); f:write("1,2\n"); f:close()
  local path = dir .. "/pipeline.toml"
  f = io.open(path, "w")
  f:write(table.concat({
    "[data.raw]",
    'path = "raw.csv"',
    "",
    "[steps.prepare]",
    'command = ["sh", "-c", "cp \\"$0\\" \\"$1/\\"", "${inputs.raw}", "${outputs.split}"]',
    'inputs = { raw = "data.rwa" }',
    'outputs = ["split"]',
    "",
  }, "\n"))
  f:close()

  local published = 0
  local orig = vim.lsp.handlers["textDocument/publishDiagnostics"]
  vim.lsp.handlers["textDocument/publishDiagnostics"] = function(e, result, ctx, config)
    published = published + 1
    return orig(e, result, ctx, config)
  end

  vim.cmd("edit " .. path)
  local buf = vim.api.nvim_get_current_buf()
  local id = vim.lsp.start_client({ name = "runner", cmd = { bin, "lsp" }, root_dir = dir })
  if not id then return fail("could not start " .. bin) end
  vim.lsp.buf_attach_client(buf, id)

  if not vim.wait(10000, function() return published >= 1 end, 20) then
    return fail("no diagnostics after open")
  end
  local diags = vim.diagnostic.get(buf)
  local codes = {}
  for _, d in ipairs(diags) do table.insert(codes, d.code .. "@" .. d.lnum) end
  table.sort(codes)
  -- The typo: an unresolved reference on line 6, so `raw` is unused (line 1).
  if table.concat(codes, " ") ~= "E0102@5 W0202@0" then
    return fail("unexpected diagnostics after open: " .. vim.inspect(diags))
  end
  log("open: " .. table.concat(codes, " "))

  -- Fix the reference (an incremental didChange), then break the output name.
  vim.api.nvim_buf_set_lines(buf, 5, 6, false, { 'inputs = { raw = "data.raw" }' })
  if not vim.wait(10000, function() return published >= 2 and #vim.diagnostic.get(buf) == 0 end, 20) then
    return fail("diagnostics did not clear after the fix: " .. vim.inspect(vim.diagnostic.get(buf)))
  end
  log("after fix: no diagnostics")
  vim.api.nvim_buf_set_lines(buf, 6, 7, false, { 'outputs = ["split", "split"]' })
  if not vim.wait(10000, function()
    local d = vim.diagnostic.get(buf)
    return #d >= 1 and d[1].message:find("split", 1, true) ~= nil
  end, 20) then
    return fail("no diagnostic for the duplicate output: " .. vim.inspect(vim.diagnostic.get(buf)))
  end
  log("after edit: " .. vim.diagnostic.get(buf)[1].message:gsub("\n.*", ""))

  -- Hover on the data reference.
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = 5, character = 24 } }
  local res = vim.lsp.buf_request_sync(buf, "textDocument/hover", params, 10000)
  local value = res and res[id] and res[id].result and res[id].result.contents.value or ""
  if not value:find("data reference", 1, true) then
    return fail("unexpected hover: " .. vim.inspect(res))
  end
  log("hover: " .. value:gsub("\n.*", ""))

  vim.lsp.stop_client(id)
  vim.wait(5000, function() return vim.lsp.client_is_stopped(id) end, 20)
  log("1 passed, 0 failed")
  vim.cmd("qall!")
end)
if not ok then fail(tostring(err)) end
