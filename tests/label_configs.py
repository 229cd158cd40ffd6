"""Labeling configs several test folders share: Label Studio's separate-control form (a plain
<Brush> or <Polygon> labelled by a <Labels> on the same image), on one image and on two."""

# One image: a smart <Brush> and a <KeyPoint>, labelled by one <Labels>.
SEPARATE = """<View>
  <Image name="image" value="$image"/>
  <Brush name="brush" toName="image" smart="true"/>
  <Labels name="labels" toName="image"><Label value="Car"/><Label value="Person"/></Labels>
  <KeyPoint name="point" toName="image" smart="true"/>
</View>"""

# Two images, each with a plain <Brush> and a <Labels> of its own (one label on the left).
SEPARATE_TWO_IMAGES = """<View>
  <Image name="left" value="$left"/>
  <Brush name="left_brush" toName="left"/>
  <Labels name="left_labels" toName="left"><Label value="Car"/></Labels>
  <Image name="right" value="$right"/>
  <Brush name="right_brush" toName="right"/>
  <Labels name="right_labels" toName="right"><Label value="Person"/></Labels>
</View>"""

# One image: a plain <Brush> labelled by <Labels>, with a per-region object-id <Number> and a
# per-region attribute: every result of one region (mask, labels, number, attribute) shares its id.
SEPARATE_WITH_IDENTITY = """<View>
  <Image name="image" value="$image"/>
  <Brush name="brush" toName="image"/>
  <Labels name="kind" toName="image"><Label value="car"/><Label value="person"/></Labels>
  <Number name="object_id" toName="image" perRegion="true" min="1"/>
  <Choices name="state" toName="image" perRegion="true"><Choice value="parked"/></Choices>
</View>"""
