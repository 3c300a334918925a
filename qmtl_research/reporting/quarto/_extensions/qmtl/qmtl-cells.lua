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

-- the table of a block: the block itself, or the first table directly inside a Div (Quarto's cell layout)
local function table_in(b)
  if not b then return nil end
  if b.t == "Table" then return b end
  if b.t == "Div" then
    for _, inner in ipairs(b.content) do
      if inner.t == "Table" then return inner end
    end
  end
  return nil
end

local function find_table(blocks)
  for i, b in ipairs(blocks) do
    if table_in(b) then return i end
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

-- Captions belong to what they caption (typst): the notebooks print "Table N. ..." above a table
-- and "Figure N. ..." below an image as italic paragraphs (sections.table / sections.figure: one
-- numbering, in display order). Here each caption becomes the caption of its table / figure, so
-- that typst lays them out as one figure: a page break never separates a caption from the first
-- rows of its table, or a figure from its caption. Runs under pandoc and under Quarto (there
-- the caption and the table are sibling output Divs of one cell; both shapes are handled).
local function caption_kind(b)
  if b and b.t == "Para" and #b.content >= 1 and b.content[1].t == "Emph" then
    local text = pandoc.utils.stringify(b.content[1])
    if text:match("^Table %d+%.") then return "table" end
    if text:match("^Figure %d+%.") then return "figure" end
  end
  return nil
end

-- the caption paragraph held by b (the paragraph itself, or a Div holding only it)
local function caption_of(b, kind)
  if b and b.t == "Div" and #b.content == 1 then b = b.content[1] end
  if caption_kind(b) == kind then return b end
  return nil
end

-- b (a paragraph with one image, or a Div holding one) with the image made a captioned Figure
local function with_figure_caption(b, caption)
  local function figure_from(para)
    local img
    pandoc.walk_block(para, { Image = function(i) img = img or i end })
    return pandoc.Figure({ pandoc.Plain({ img }) }, { long = { pandoc.Plain(caption) } })
  end
  if (b.t == "Para" or b.t == "Plain") and has_image(b) then return figure_from(b) end
  if b.t == "Div" then
    for k, inner in ipairs(b.content) do
      if (inner.t == "Para" or inner.t == "Plain") and has_image(inner) then
        b.content[k] = figure_from(inner)
        return b
      end
    end
  end
  return nil
end

-- the caption's text without the italics the notebook gave it (the template styles captions)
local function caption_inlines(para)
  local out = pandoc.List()
  for _, x in ipairs(para.content) do
    if x.t == "Emph" then out:extend(x.content) else out:insert(x) end
  end
  return out
end

-- Long words in table cells (metric paths such as models.rating.margin_vs_rule, snake_case
-- headers, sha256 digests) may break after . _ / : = , - and, in a long run of letters and
-- digits, every 16 characters: each piece is a typst box and a line may break between boxes.
-- This adds no character to the text (no zero-width space in the PDF's text layer) and leaves
-- numbers whole.
local BREAK_AFTER = "[%._/:=,%-]"

local function typst_string(s)
  return '"' .. s:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"'
end

local function pieces(word)
  local out = {}
  for piece in word:gmatch("[^%._/:=,%-]*" .. BREAK_AFTER .. "?") do
    if piece ~= "" then
      if #piece > 16 and not piece:find("[\128-\255]") then
        for k = 1, #piece, 16 do table.insert(out, piece:sub(k, k + 15)) end
      else
        table.insert(out, piece)
      end
    end
  end
  return out
end

local function breakable_str(s)
  local text = s.text
  if #text < 12 or text:match("^[%-+]?[%d,%.]+%%?$") then return nil end
  local parts = pieces(text)
  if #parts < 2 then return nil end
  local raw = {}
  for _, p in ipairs(parts) do table.insert(raw, "#box[#" .. typst_string(p) .. "]") end
  return pandoc.RawInline("typst", table.concat(raw))
end

local function breakable_cells(tbl)
  return pandoc.walk_block(tbl, { Str = breakable_str })
end

local function holds_lead_in(b, after)
  return b.t == "Para" and #b.content == 1 and b.content[1].t == "Strong" and after
      and (after.t == "BulletList" or after.t == "OrderedList")
end

local function sticky(b)
  return { pandoc.RawBlock("typst", "#block(sticky: true)["), b, pandoc.RawBlock("typst", "]") }
end

local function keep_together(blocks)
  local out = pandoc.List()
  local i = 1
  while i <= #blocks do
    local b, after = blocks[i], blocks[i + 1]
    if b.t == "Div" then b.content = keep_together(b.content) end
    local cap_t, tbl = caption_of(b, "table"), table_in(after)
    local cap_f = caption_of(after, "figure")
    local fig = cap_f and with_figure_caption(b, caption_inlines(cap_f))
    if cap_t and tbl then
      if after.t == "Div" then
        after.content = keep_together(after.content)
        tbl = table_in(after)
      else
        after = breakable_cells(after)
        tbl = after
      end
      tbl.caption = { long = { pandoc.Plain(caption_inlines(cap_t)) } }
      out:insert(after)
      i = i + 2
    elseif fig then
      out:insert(fig)
      i = i + 2
    else
      if b.t == "Table" then b = breakable_cells(b) end
      if holds_lead_in(b, after) then
        out:extend(sticky(b))   -- a bold lead-in ("Key findings") stays with its list
      else
        out:insert(b)
      end
      i = i + 1
    end
  end
  return out
end

local function typst_document(doc)
  if FORMAT ~= "typst" then return nil end
  -- zero-width spaces (line-break hints of older notebooks) would reach the PDF's text layer:
  -- dropped, the boxes above give the break points
  doc = doc:walk({ Str = function(s)
    if s.text:find("\u{200B}") then return pandoc.Str((s.text:gsub("\u{200B}", ""))) end
  end })
  doc.blocks = keep_together(doc.blocks)
  return doc
end

-- Under Quarto (the global `quarto` exists) Quarto itself honours cell options, tags and output
-- representations: only the caption and long-word pass runs. Under pandoc, all of it.
if quarto then
  return { { Pandoc = typst_document } }
end
return { { Image = Image, Div = Div }, { Pandoc = typst_document } }
