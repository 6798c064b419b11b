/** The datasets room: the procedural "shapes" image set with known visual causes. */
export { CLASSES, LABELS, type ShapeClass } from './shapeClasses.ts';
export {
  generateShapes, renderShape, shapesTensor, referenceImages, DEFAULT_SHAPES_SIZE_PX,
  type ShapesOptions, type ShapesBatch, type RenderShapeOptions,
} from './shapesDataset.ts';
export {
  BUNDLED_REFERENCE_SET, provideReferenceSets, referenceImageSource, colourStatisticsImages,
  type ReferenceImageSet, type ReferenceImageSource,
} from './referenceSets.ts';
