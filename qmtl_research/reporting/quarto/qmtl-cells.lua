-- qmtl-cells.lua — make pandoc's ipynb reader render notebooks the way Quarto does,
-- for the pandoc + typst fallback renderer of qmtl-research.
--
-- * code is hidden unless a cell says `#| echo: true` (reports hide code);
-- * Quarto cell options as `#|` comments: echo, output, include, label, fig-cap, tbl-cap;
-- * Quarto tags: remove-cell, hide-cell, hide-code, hide-output;
-- * one representation per output: image > HTML table (parsed into a real table)
--   > markdown > plain text; stderr streams and Figure reprs are dropped;
-- * raw cells (the YAML front matter) are dropped: the renderer passes metadata itself.

local function parse_options(code)
  local opts, rest = {}, {}
  for line in (code .. "\n"):gmatch("(.-)\n") do
    local k, v = line:match("^#|%s*([%w%-]+)%s*:%s*(.-)%s*$")
    if k then
      v = v:gsub('^"(.*)"$', "%1"):gsub("^'(.*)'$", "%1")
      if v == "true" then v = true elseif v == "false" then v = false end
      opts[k] = v
    else
      table.insert(rest, line)
    end
  end
  return opts, table.concat(rest, "\n")
end

local function parse_tags(attr)
  local tags = {}
  local raw = attr.attributes and attr.attributes["tags"]
  if raw then
    for t in raw:gmatch('"([^"]+)"') do tags[t] = true end
  end
  return tags
end

local function has_image(block)
  local found = false
  pandoc.walk_block(block, { Image = function(_) found = true end })
  return found
end

local function is_figure_repr(block)
  return block.t == "CodeBlock" and block.text:match("^<Figure size") ~= nil
end

-- choose one representation among the blocks of an output Div
local function choose(blocks)
  for _, b in ipairs(blocks) do
    if (b.t == "Para" or b.t == "Plain" or b.t == "Figure") and has_image(b) then return { b }, "image" end
  end
  for _, b in ipairs(blocks) do
    if b.t == "RawBlock" and b.format == "html" and b.text:match("<table") then
      local html = b.text:gsub("<style.-</style>", "")
      return pandoc.read(html, "html").blocks, "table"
    end
  end
  for _, b in ipairs(blocks) do
    if b.t == "RawBlock" and b.format == "markdown" then
      return pandoc.read(b.text, "markdown+pipe_tables+tex_math_dollars").blocks, "markdown"
    end
  end
  for _, b in ipairs(blocks) do
    if b.t == "RawBlock" and b.format == "html" then
      return pandoc.read(b.text, "html").blocks, "html"
    end
  end
  for _, b in ipairs(blocks) do
    if b.t == "CodeBlock" and not is_figure_repr(b) then return { b }, "text" end
  end
  return {}, "none"
end

local function find_table(blocks)
  for i, b in ipairs(blocks) do
    if b.t == "Table" then return i end
    if b.t == "Div" then
      for _, inner in ipairs(b.content) do
        if inner.t == "Table" then return i end
      end
    end
  end
  return nil
end

local function caption_table(blocks, caption, label)
  local out = pandoc.List()
  local done = false
  pandoc.walk_block(pandoc.Div(blocks), {})
  for _, b in ipairs(blocks) do
    if not done and b.t == "Table" then
      b.caption = { long = { pandoc.Plain(pandoc.read(caption, "markdown").blocks[1].content) } }
      if label then b.identifier = label end
      done = true
    end
    out:insert(b)
  end
  return out
end

local function figure_of(blocks, caption, label)
  local img
  for _, b in ipairs(blocks) do
    pandoc.walk_block(b, { Image = function(i) img = img or i end })
  end
  if not img then return blocks end
  local cap = pandoc.read(caption, "markdown").blocks[1].content
  return { pandoc.Figure({ pandoc.Plain({ img }) }, { long = { pandoc.Plain(cap) } }, { id = label or "" }) }
end

-- PNG size from its IHDR chunk (bytes 17..24), to size figures by aspect ratio
local function png_size(src)
  local ok, _, contents = pcall(pandoc.mediabag.fetch, src)
  if not ok or not contents or #contents < 24 or contents:sub(2, 4) ~= "PNG" then return nil end
  local function u32(i)
    local a, b, c, d = contents:byte(i, i + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  return u32(17), u32(21)
end

-- wide figures take the text width; square-ish ones (heatmaps, matrices) less, so pages stay readable
function Image(img)
  if img.attributes["width"] then return nil end
  local w, h = png_size(img.src)
  if w and h and w > 0 then
    local ratio = h / w
    local width = ratio > 0.9 and "58%" or (ratio > 0.65 and "75%" or "92%")
    img.attributes["width"] = width
  else
    img.attributes["width"] = "90%"
  end
  return img
end

function Div(el)
  if not el.classes:includes("cell") then return nil end
  if el.classes:includes("raw") then return {} end
  if not el.classes:includes("code") then return el.content end

  local tags = parse_tags(el)
  if tags["remove-cell"] or tags["hide-cell"] then return {} end

  local opts, source = {}, nil
  for _, b in ipairs(el.content) do
    if b.t == "CodeBlock" and b.classes:includes("python") then
      opts, source = parse_options(b.text)
    end
  end
  if opts["include"] == false then return {} end

  local out = pandoc.List()
  local echo = opts["echo"] == true and not tags["hide-code"]
  for _, b in ipairs(el.content) do
    if b.t == "CodeBlock" and b.classes:includes("python") then
      if echo then out:insert(pandoc.CodeBlock(source, { class = "python" })) end
    elseif b.t == "Div" and b.classes:includes("output") then
      local skip = opts["output"] == false or tags["hide-output"]
      if b.classes:includes("stream") and not b.classes:includes("stdout") then skip = true end
      if b.classes:includes("error") then skip = false end
      if not skip then
        local chosen, kind = choose(b.content)
        if kind == "image" and opts["fig-cap"] then
          chosen = figure_of(chosen, opts["fig-cap"], opts["label"])
        elseif opts["tbl-cap"] and find_table(chosen) then
          chosen = caption_table(chosen, opts["tbl-cap"], opts["label"])
        end
        out:extend(chosen)
      end
    end
  end
  return out
end

-- Keep captions with what they caption (typst only): a "Table N." caption paragraph sticks to
-- the table after it, and an image sticks to the "Figure N." caption after it, so that a page
-- break never separates them (typst >= 0.12 `block(sticky: true)`).
local function caption_kind(b)
  if b and b.t == "Para" and #b.content >= 1 and b.content[1].t == "Emph" then
    local text = pandoc.utils.stringify(b.content[1])
    if text:match("^Table %d+%.") then return "table" end
    if text:match("^Figure %d+%.") then return "figure" end
  end
  return nil
end

local function holds_table(b)
  return b and (b.t == "Table" or (b.t == "Div" and find_table(b.content) ~= nil))
end

local function sticky(b)
  return { pandoc.RawBlock("typst", "#block(sticky: true)["), b, pandoc.RawBlock("typst", "]") }
end

local function keep_together(blocks)
  local out = pandoc.List()
  for i, b in ipairs(blocks) do
    if b.t == "Div" then b.content = keep_together(b.content) end
    local kind = caption_kind(b)
    if kind == "table" and holds_table(blocks[i + 1]) then
      out:extend(sticky(b))
    elseif b.t == "Para" and #b.content == 1 and b.content[1].t == "Strong" and blocks[i + 1]
        and (blocks[i + 1].t == "BulletList" or blocks[i + 1].t == "OrderedList") then
      out:extend(sticky(b))   -- a bold lead-in ("Key findings") stays with its list
    elseif caption_kind(blocks[i + 1]) == "figure" and has_image(b) then
      out:extend(sticky(b))
    else
      out:insert(b)
    end
  end
  return out
end

function Pandoc(doc)
  if FORMAT ~= "typst" then return nil end
  doc.blocks = keep_together(doc.blocks)
  return doc
end
