-- Runnel's session driver for Lua (crates/languages/src/repl.rs describes the protocol).
-- Cells are loaded into the one global environment: globals and functions persist from cell
-- to cell; `local`s live as long as their cell, as with any chunk. The host sends the code
-- base64-encoded (`code_b64`): Lua has no JSON of its own.
os.remove(arg[0])
local control_in = assert(io.open("/proc/self/fd/3", "rb"))
local control_out = assert(io.open("/proc/self/fd/4", "wb"))
control_out:setvbuf("no")
io.stdout:setvbuf("no")
io.stderr:setvbuf("no")

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local sextets = {}
for position = 1, #alphabet do
  sextets[alphabet:byte(position)] = position - 1
end

local function from_base64(text)
  local out, bits, count = {}, 0, 0
  for position = 1, #text do
    local value = sextets[text:byte(position)]
    if value then
      bits = (bits << 6) | value
      count = count + 6
      if count >= 8 then
        count = count - 8
        out[#out + 1] = string.char((bits >> count) & 0xFF)
        bits = bits & ((1 << count) - 1)
      end
    end
  end
  return table.concat(out)
end

local function json_string(value)
  if value == nil then
    return "null"
  end
  return '"' .. tostring(value):gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function field(line, name)
  return line:match('"' .. name .. '":%s*"([^"]*)"')
end

control_out:write('{"op":"ready"}\n')
for line in control_in:lines() do
  if field(line, "op") == "execute" then
    local id = field(line, "id") or ""
    local marker = (field(line, "marker") or ""):gsub("\\u001e", "\30")
    local code = from_base64(field(line, "code_b64") or "")
    local status, ename, evalue = "ok", nil, nil
    local chunk, problem = load(code, "=cell", "t", _ENV)
    if not chunk then
      status, ename, evalue = "error", "SyntaxError", problem
      io.stderr:write(problem, "\n")
    else
      local ok, trace = xpcall(chunk, function(error)
        evalue = tostring(error)
        return debug.traceback(error, 2)
      end)
      if not ok then
        -- lua5.4's own SIGINT handler stops the running code with this error (where
        -- the code was, then "interrupted!").
        local interrupted = evalue == "interrupted!" or evalue:sub(-14) == ": interrupted!"
        status, ename = "error", interrupted and "KeyboardInterrupt" or "Error"
        io.stderr:write(tostring(trace), "\n")
      end
    end
    io.stdout:flush()
    io.stdout:write(marker)
    io.stderr:write(marker)
    control_out:write(string.format(
      '{"op":"done","id":%s,"status":"%s","ename":%s,"evalue":%s}\n',
      json_string(id), status, json_string(ename), json_string(evalue)))
  end
end
