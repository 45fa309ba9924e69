/** @type {AppTypes.Config} */

// OHIF Viewer configuration for CCTA AI: the prebuilt viewer (npm @ohif/app, its dist/)
// served by `ccta-ai viewer`, which also proxies /dicom-web/ to Orthanc's DICOMweb root
// on the same origin (so no CORS, and Orthanc's credentials stay on the server).
//
// Orthanc's DICOMweb plugin (1.7) answers QIDO with includefield, WADO-RS metadata and
// frames, and STOW-RS; it is not a static WADO server. Everything else is OHIF's secure
// default (no local-file, ?url= or ?configUrl= data sources).
const dicomWebRoot = `${window.location.origin}/dicom-web`;

window.config = {
  name: 'ccta-ai',
  routerBasename: null,
  extensions: [],
  modes: [],
  // No onboarding tour: it covers the viewport on a reading workstation's first visit.
  customizationService: { 'ohif.tours': { $set: [] } },
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  experimentalStudyBrowserSort: false,
  strictZSpacingForVolumeViewport: true,
  groupEnabledModesFirst: true,
  allowMultiSelectExport: false,
  // No investigational-use dialog: CCTA AI marks its own results as AI output.
  investigationalUseDialog: { option: 'never' },
  maxNumRequests: {
    interaction: 100,
    thumbnail: 5,
    prefetch: 10,
  },
  showErrorDetails: 'always',
  defaultDataSourceName: 'orthanc',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'orthanc',
      configuration: {
        friendlyName: 'Orthanc (CCTA AI)',
        name: 'orthanc',
        wadoUriRoot: dicomWebRoot,
        qidoRoot: dicomWebRoot,
        wadoRoot: dicomWebRoot,
        qidoSupportsIncludeField: true,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: {
          enabled: true,
          relativeResolution: 'studies',
        },
        omitQuotationForMultipartRequest: true,
        // Radiologists may save measurements back (STOW-RS through the proxy).
        supportsStow: true,
      },
    },
  ],
};
